"""Operating the instances: provisioning the secondary, doctor, the demo."""
