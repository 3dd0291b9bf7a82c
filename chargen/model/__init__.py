"""The network: CharRNN in torch, the same equations in NumPy, and where it runs."""
