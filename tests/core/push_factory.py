from tests.core.components import push_factory as factory

__all__ = ["factory"]
