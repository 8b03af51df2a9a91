"""Sample Lambda function with a compiled dependency (pydantic-core) in its dependency layer."""
