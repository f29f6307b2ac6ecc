"""The stream processors: clean -> normalize -> tag -> mentions -> counts.

The pure core (``clean``, ``normalize``, ``tagger``, ``mentions``) imports no Faust, Kafka
or Redis, so ``raqib tag`` and the live worker run the same code.
"""
