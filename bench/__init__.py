"""The side-by-side benchmark: LLMux against LiteLLM and direct-to-upstream, on pinned cores.

``python -m bench`` runs the scenarios (see ``bench/README.md``); ``bench.upstream`` is the fake
OpenAI upstream, ``bench.driver`` the load drivers, ``bench.scenarios`` the measurements.
"""
