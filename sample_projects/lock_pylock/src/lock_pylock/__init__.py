"""Sample Lambda function whose dependency layer comes from a lock file."""
