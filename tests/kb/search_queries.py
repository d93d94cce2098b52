"""A regression set for search: descriptive queries and the term each one means.

Each query says what the term does or is, as someone who does not know its name would ask,
written from what the term means (its definition), not copied from the term's summary; none
contains the term's name. tests/kb/test_search_quality.py measures top-1 and top-3 of the
lexical, semantic and hybrid rankings over the real glossary; bench/RESULTS.md records them.
"""

QUERIES: list[tuple[str, str]] = [
    ("randomly zero activations during training to prevent co-adaptation", "dropout"),
    ("accumulate squared gradients to adapt per-parameter learning rates", "adagrad"),
    ("train only small low-rank matrices added to frozen weights", "lora"),
    ("stop training when the validation loss stops getting better", "early-stopping"),
    ("cap the norm of the gradient so one huge update cannot wreck the model", "gradient-clipping"),
    ("soften the one-hot targets so the classifier is not overconfident", "label-smoothing"),
    (
        "a small student network learns to mimic a big teacher's soft outputs",
        "knowledge-distillation",
    ),
    (
        "normalize each example's features across the channel dimension, not the batch",
        "layer-normalization",
    ),
    (
        "skip connection that adds a block's input to its output so very deep nets train",
        "residual-connection",
    ),
    ("gradients shrink exponentially as they flow back through many layers", "vanishing-gradient"),
    ("model memorises the training data and does poorly on new examples", "overfitting"),
    ("split the data into k folds and rotate which one is held out", "cross-validation"),
    ("information from the test set sneaks into training and inflates the score", "data-leakage"),
    (
        "sum gradients over several small batches before taking one optimizer step",
        "gradient-accumulation",
    ),
    (
        "recompute activations in the backward pass instead of storing them to save memory",
        "gradient-checkpointing",
    ),
    (
        "use 16-bit floats for most of the math and keep a 32-bit master copy of the weights",
        "mixed-precision-training",
    ),
    ("start with a tiny learning rate and ramp it up over the first steps", "learning-rate-warmup"),
    ("learning rate follows half a cosine wave down to zero", "cosine-annealing"),
    ("look ahead along the velocity before computing the gradient", "nesterov-momentum"),
    (
        "subtract a fraction of the weights at each step, separately from the adaptive update",
        "adamw",
    ),
    (
        "pick the action with the best value most of the time but sometimes a random one",
        "epsilon-greedy",
    ),
    (
        "store past transitions in a buffer and sample them to train the value network",
        "experience-replay",
    ),
    (
        "clip the probability ratio so the new policy does not move too far from the old one",
        "proximal-policy-optimization",
    ),
    ("learn state-action values by bootstrapping from the best next action", "q-learning"),
    ("future rewards count less the further away they are", "discount-factor"),
    (
        "train a reward model from human rankings and then optimise the language model against it",
        "rlhf",
    ),
    (
        "optimise the policy directly on preference pairs without a separate reward model",
        "direct-preference-optimization",
    ),
    ("generator and discriminator play a minimax game", "generative-adversarial-network"),
    (
        "the generator produces only a few kinds of samples and ignores the rest of the data",
        "mode-collapse",
    ),
    ("learn to reverse a process that gradually adds gaussian noise to images", "diffusion-model"),
    (
        "sample z as mean plus sigma times standard normal noise so gradients pass through",
        "reparameterization-trick",
    ),
    ("lower bound on the log evidence maximised in variational inference", "evidence-lower-bound"),
    (
        "encoder gives a distribution over latent codes, decoder rebuilds the input from a sample",
        "variational-autoencoder",
    ),
    ("store keys and values of earlier tokens so generation does not recompute them", "kv-cache"),
    ("queries from the decoder attend to the encoder's outputs", "cross-attention"),
    (
        "encode token positions by rotating query and key vectors by angles",
        "rotary-position-embedding",
    ),
    ("several query heads share one key and value head to save memory", "grouped-query-attention"),
    (
        "exact attention computed in tiles that fit in fast on-chip memory",
        "flash-attention",
    ),
    ("predict a randomly hidden token from the words on both sides", "masked-language-modeling"),
    (
        "a small draft model proposes tokens that the large model verifies in parallel",
        "speculative-decoding",
    ),
    (
        "sample the next token only from the smallest set whose probabilities add up to p",
        "top-p-sampling",
    ),
    ("keep the few most probable partial sequences at every step of decoding", "beam-search"),
    ("model confidently states things that are not true or not in its sources", "hallucination"),
    (
        "fetch relevant documents and put them in the prompt before generating the answer",
        "retrieval-augmented-generation",
    ),
    (
        "ask the model to write out intermediate reasoning steps before the answer",
        "chain-of-thought",
    ),
    (
        "repeatedly merge the most frequent adjacent pair of symbols to build a subword vocabulary",
        "byte-pair-encoding",
    ),
    ("a router sends each token to a few of many expert sub-networks", "mixture-of-experts"),
    (
        "fit many trees on bootstrap samples with random feature subsets and average their votes",
        "random-forest",
    ),
    (
        "add trees one after another, each fitted to the residual errors of the current ensemble",
        "gradient-boosting",
    ),
    ("reweight the training examples that previous weak learners got wrong", "adaboost"),
    (
        "find the separating hyperplane with the widest margin between the classes",
        "support-vector-machine",
    ),
    (
        "inner products in a high-dimensional feature space without mapping the points there",
        "kernel-trick",
    ),
    (
        "classify a point by the majority label among the closest training points",
        "k-nearest-neighbors",
    ),
    ("group points that are densely packed together and mark isolated ones as noise", "dbscan"),
    (
        "assign points to the nearest centroid and move each centroid to the mean of its points",
        "k-means",
    ),
    ("project the data onto the directions of greatest variance", "principal-component-analysis"),
    ("nonlinear 2d map that keeps neighbours close for visualising high-dimensional data", "t-sne"),
    ("assume the features are independent given the class and apply Bayes' rule", "naive-bayes"),
    (
        "alternate between computing expected hidden assignments and re-estimating the parameters",
        "expectation-maximization",
    ),
    (
        "most likely sequence of hidden states given the observations, by dynamic programming",
        "viterbi-algorithm",
    ),
    ("draw each variable in turn from its conditional given all the others", "gibbs-sampling"),
    (
        "penalise the absolute values of the weights so many become exactly zero",
        "l1-regularization",
    ),
    ("harmonic mean of precision and recall", "f1-score"),
    (
        "table of true positives, false positives, true negatives and false negatives",
        "confusion-matrix",
    ),
    (
        "area of overlap between predicted and true boxes divided by the area of their union",
        "intersection-over-union",
    ),
    ("discard detection boxes that overlap a higher-scoring box", "non-maximum-suppression"),
    ("exponentiate and normalise scores into a probability distribution over classes", "softmax"),
    ("negative inputs give a small slope instead of zero so the unit keeps learning", "leaky-relu"),
    ("units whose input is always negative output zero and never recover", "dying-relu"),
    (
        "how many input pixels can influence one output unit of a convolutional layer",
        "receptive-field",
    ),
    (
        "spread the kernel taps apart with gaps to see a wider context without more parameters",
        "dilated-convolution",
    ),
    (
        "a per-channel spatial convolution followed by a 1x1 convolution that mixes channels",
        "depthwise-separable-convolution",
    ),
    (
        "learnable upsampling that maps a small feature map to a larger one",
        "transposed-convolution",
    ),
    (
        "encoder-decoder for segmentation with skip connections between matching resolutions",
        "u-net",
    ),
    ("split an image into patches and feed them as tokens to a transformer", "vision-transformer"),
    ("train image and text encoders so matching pairs have similar embeddings", "clip"),
    (
        "devices train on their own data and only send model updates to a central server",
        "federated-learning",
    ),
    (
        "add calibrated noise so that no single record can be identified from the output",
        "differential-privacy",
    ),
    ("the input distribution changes between training and deployment", "data-drift"),
    ("learn new tasks one after another without forgetting the old ones", "continual-learning"),
    (
        "classify examples of classes never seen during training from a description of them",
        "zero-shot-learning",
    ),
    (
        "the model learns a task from examples given in the prompt, without updating its weights",
        "in-context-learning",
    ),
]


def top_k(found: list[list[str]], k: int) -> float:
    """The share of ``QUERIES`` whose term is among the first ``k`` of its results."""
    hits = sum(slug in slugs[:k] for (_, slug), slugs in zip(QUERIES, found, strict=True))
    return hits / len(QUERIES)
