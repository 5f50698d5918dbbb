"""Local tooling (demo, test fixtures). Never shipped in the Lambda asset."""
