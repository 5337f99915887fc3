"""Everything a user needs imports from `derelayl`, and every SDK error shares one root."""

import derelayl
from derelayl import DeRelayLError


def test_all_names_import():
    for name in derelayl.__all__:
        assert hasattr(derelayl, name), name


def test_errors_share_one_root():
    errors = [getattr(derelayl, n) for n in derelayl.__all__
              if isinstance(getattr(derelayl, n), type) and issubclass(getattr(derelayl, n), Exception)]
    assert len(errors) >= 10
    assert all(issubclass(e, DeRelayLError) for e in errors)
