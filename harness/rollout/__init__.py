"""The rollout: the stages policy, the ledger and the advance gate."""
