pytest_plugins = ["harness.plugin.hooks"]
