"""FlowSpace infrastructure components."""
