"""Runs the layer's `hello.sh` from PATH and returns its output, as the classic layer example does."""

import json
import subprocess


def lambda_handler(event, context):
    output = subprocess.run(["hello.sh"], capture_output=True, text=True, check=True).stdout
    return {"statusCode": 200, "body": json.dumps("Message from script: " + output)}
