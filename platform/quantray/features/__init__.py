"""Frozen stage-1 features: the cache format (``cache``), the export that fills it (``export``)
and the shared, content-addressed stage-1 store (``store``).

``quantray.features.cache`` is light (numpy only): the envs import it. ``export`` and
``store`` load the price model and train it when needed; import them by module.
"""
