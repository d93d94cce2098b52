"""Exports of the whole glossary: ``records`` reads it from the database in one snapshot, in
slug order and a batch at a time; ``files`` writes it back as the data files ``kb load`` reads.
"""
