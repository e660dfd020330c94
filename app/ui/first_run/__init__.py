"""The welcome shown when there is nothing to chat with: this computer, the model that fits, its download."""
