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


def test_every_error_lives_in_errors_and_is_drawn_in_its_tree():
    """errors.py defines every SDK exception, and its docstring's tree names each one."""
    from derelayl import errors

    defined = {n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, Exception)}
    assert defined == set(errors.__all__)
    assert all(f" {name} " in errors.__doc__ or f"    {name}\n" in errors.__doc__ for name in defined)
    exported = {n for n in derelayl.__all__ if isinstance(getattr(derelayl, n), type)
                and issubclass(getattr(derelayl, n), Exception)}
    assert exported == defined and all(getattr(derelayl, n) is getattr(errors, n) for n in defined)


def test_former_import_paths_still_work():
    """Code that imports from derelayl.chain or from the raising modules keeps working."""
    from derelayl import chain, crypto, deploying, errors, localchain, storage, transactions, weights
    from derelayl.deployment import Deployment

    assert storage.StorageError is errors.StorageError and storage.ContentNotFound is errors.ContentNotFound
    assert crypto.DecryptionError is errors.DecryptionError and weights.WeightsError is errors.WeightsError
    assert chain.ContractRevert is errors.ContractRevert and chain.ChainUnreachable is errors.ChainUnreachable
    assert chain.deploy is deploying.deploy and chain.Deployment is Deployment
    assert chain.LocalChain is localchain.LocalChain and chain.send is transactions.send
    assert set(chain.compile_contracts()) == {"RelayLearning", "MergeRelayLearning", "RelayToken"}
