from tests.core.components import collect_factory as factory

__all__ = ["factory"]
