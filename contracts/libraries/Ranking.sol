// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Ranking
/// @notice In-memory ordering helpers for one round's bounded lists (bids, offers,
/// scored models, one model's scores). Every list is capped by a deployment
/// parameter, so the quadratic insertion sort stays small and needs no storage.
library Ranking {
    /// @notice Indices of `primary` ordered by (primary, tie) descending.
    /// @dev `tie` holds pseudo-random keys that order equal primaries; equal pairs keep
    /// their input order (stable).
    function orderDescending(uint256[] memory primary, uint256[] memory tie)
        internal
        pure
        returns (uint256[] memory order)
    {
        uint256 n = primary.length;
        order = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            order[i] = i;
        }
        for (uint256 i = 1; i < n; ++i) {
            uint256 current = order[i];
            uint256 j = i;
            while (j > 0 && _before(primary, tie, current, order[j - 1])) {
                order[j] = order[j - 1];
                --j;
            }
            order[j] = current;
        }
    }

    /// @notice The median of the first `n` entries of `values` (mean of the two middle
    /// ones, rounded down, when `n` is even). Sorts that prefix in place.
    /// @dev Requirements: 0 < n <= values.length.
    function median(uint256[] memory values, uint256 n) internal pure returns (uint256) {
        for (uint256 i = 1; i < n; ++i) {
            uint256 current = values[i];
            uint256 j = i;
            while (j > 0 && values[j - 1] > current) {
                values[j] = values[j - 1];
                --j;
            }
            values[j] = current;
        }
        uint256 mid = n / 2;
        if (n % 2 == 1) return values[mid];
        // Scores are at most SCORE_SCALE, so the sum cannot overflow.
        return (values[mid - 1] + values[mid]) / 2;
    }

    function _before(uint256[] memory primary, uint256[] memory tie, uint256 a, uint256 b)
        private
        pure
        returns (bool)
    {
        if (primary[a] != primary[b]) return primary[a] > primary[b];
        return tie[a] > tie[b];
    }
}
