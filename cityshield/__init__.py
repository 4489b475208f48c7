"""CityShield kernel: what every layer may use.

* :mod:`cityshield.errors`: the error tree, named for who must react.
* :mod:`cityshield.settings`: the machinery for typed settings (TOML file, then environment).
* :mod:`cityshield.clock`: an injectable clock.
* :mod:`cityshield.ids`: Community ID v1 and deterministic record ids.
* :mod:`cityshield.logging`: logging set-up that keeps secrets out of logs.

The kernel imports nothing else of ours.
"""

__version__ = "0.1.0"
