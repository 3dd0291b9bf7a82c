"""`chargen serve`: the batched generation engine (engine), the OpenAI completions shape (api), and HTTP (app)."""
