// placeholder, replaced by the orchestrator bootstrap
export {};
