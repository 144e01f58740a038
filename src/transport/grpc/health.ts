import type { Server } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";

export interface GrpcHealth {
  setServing(serving: boolean): void;
}

/**
 * grpc.health.v1 (Check and Watch) for the whole listener ("") and for each service it serves by
 * name (`services`), so that Envoy's gRPC health check and Kubernetes' grpc probes both work.
 * Draining flips every service to NOT_SERVING, which Watch streams push at once.
 */
export function addHealthService(server: Server, services: readonly string[]): GrpcHealth {
  const health = new HealthImplementation(
    Object.fromEntries(services.map((name) => [name, "SERVING" as const])),
  );
  health.addToServer(server);
  return {
    setServing: (serving) => {
      for (const name of services) health.setStatus(name, serving ? "SERVING" : "NOT_SERVING");
    },
  };
}
