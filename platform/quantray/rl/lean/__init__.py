"""The lean PPO path: RLlib's own algorithm with two parts replaced by faster equivalents.

``learner`` runs RLlib's minibatch loop over plain tensors; ``sampling`` steps the MLP module
and the env-to-module / module-to-env connectors without per-step dict traffic. Each is
tested equal to the stock RLlib part it replaces (tests/rl/test_lean_path.py).
"""
