"""Upload checks: the contract and catalog (:mod:`.base`) and one module per check."""
