// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title RelayToken (DRL)
/// @notice The reward token of one DeRelayL deployment. Only the protocol contract
/// (the minter, fixed at deployment) creates or destroys tokens: it mints lineage and
/// evaluator rewards and burns forfeited deposits.
contract RelayToken is ERC20 {
    /// @notice The only address allowed to mint and burn.
    address public immutable minter;

    /// @dev The caller is not the minter.
    error RelayTokenUnauthorized(address caller);
    /// @dev The minter cannot be the zero address.
    error RelayTokenZeroMinter();
    /// @dev Tokens sent straight to the minter (the relay) would be stuck there: owed to
    /// nobody. Only the minter itself moves tokens to itself (its own `transferFrom`
    /// when it locks a deposit from a wallet).
    error RelayTokenDirectTransfer(address caller);

    /// @param minter_ The protocol contract. Deployment scripts predict its address
    /// (it is deployed next by the same account), since it needs this token's address.
    constructor(address minter_) ERC20("DeRelayL Token", "DRL") {
        if (minter_ == address(0)) revert RelayTokenZeroMinter();
        minter = minter_;
    }

    modifier onlyMinter() {
        if (msg.sender != minter) revert RelayTokenUnauthorized(msg.sender);
        _;
    }

    /// @dev Refuses any transfer to the minter that the minter did not send (a plain
    /// `transfer`, or a `transferFrom` by anyone else): the relay credits only the
    /// tokens it pulls itself, so tokens sent to it any other way would be owed to nobody.
    function _update(address from, address to, uint256 value) internal override {
        if (to == minter && from != address(0) && msg.sender != minter) revert RelayTokenDirectTransfer(msg.sender);
        super._update(from, to, value);
    }

    /// @notice Mints `amount` tokens to `to`.
    /// @dev Requirements: the caller is the minter. Emits a {Transfer} event.
    function mint(address to, uint256 amount) external onlyMinter {
        _mint(to, amount);
    }

    /// @notice Burns `amount` of the minter's own tokens (forfeited deposits).
    /// @dev Requirements: the caller is the minter. Emits a {Transfer} event.
    function burn(uint256 amount) external onlyMinter {
        _burn(msg.sender, amount);
    }
}
