"""The fleet of this project's stacks: status, previews and gated rollouts across clusters."""
