#!/bin/sh
echo "Hello from layer!"
