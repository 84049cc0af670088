"""Myriad: batched reinforcement-learning environments and learners in Rust, on CPU, wgpu and CUDA.

>>> import myriad
>>> envs = myriad.make_vec("CartPole-v1", 4096)          # a gymnasium.vector.VectorEnv
>>> obs, infos = envs.reset(seed=0)
>>> algo = myriad.train("ppo", "CartPole-v1")            # the tuned config
>>> result = algo.train()                                # one iteration, RLlib's result keys
"""

from ._myriad import __version__, has_atari
from .training import Algorithm, algorithms, train
from .vector import VectorEnv, list_envs, make_vec

__all__ = ["Algorithm", "VectorEnv", "algorithms", "has_atari", "list_envs", "make_vec", "train", "__version__"]
