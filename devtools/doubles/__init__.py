"""What moto does not model, added to its EC2 client as EC2 documents it."""
