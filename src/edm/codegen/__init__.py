"""Code generators that read the API manifest; ``python -m edm.codegen`` writes the SDK (``edm.codegen.sdk``)."""
