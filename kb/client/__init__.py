"""A Python client of the glossary API, blocking (``KBClient``) or for asyncio
(``AsyncKBClient``), answering with the API's own response models.

```python
from kb.client import KBClient, NotFound

with KBClient("http://127.0.0.1:8000") as kb:
    adam = kb.term("adam")                      # kb.schemas.TermDetail
    for term in kb.terms(category="optimization"):
        print(term.slug)
    run = kb.run_demo("adam", problem="quadratic", steps=200, seed=1)
```
"""

from kb.client.clients import DEFAULT_TIMEOUT, AsyncKBClient, KBClient
from kb.client.errors import (
    APIError,
    Conflict,
    ConnectionFailed,
    FieldError,
    KBError,
    NotFound,
    RateLimited,
    UnexpectedResponse,
    ValidationError,
)
from kb.client.protocol import NO_RETRIES, ETagCache, RetryPolicy

__all__ = [
    "DEFAULT_TIMEOUT",
    "NO_RETRIES",
    "APIError",
    "AsyncKBClient",
    "Conflict",
    "ConnectionFailed",
    "ETagCache",
    "FieldError",
    "KBClient",
    "KBError",
    "NotFound",
    "RateLimited",
    "RetryPolicy",
    "UnexpectedResponse",
    "ValidationError",
]
