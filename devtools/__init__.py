"""Local tooling (demo, test fixtures, benchmarks). Never shipped in the Lambda asset."""

# The account and region moto serves by default: the demo's, the tests' and the benchmarks'.
ACCOUNT = "123456789012"
REGION = "us-east-1"
