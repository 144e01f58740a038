import type { Server } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { RATE_LIMITER_SERVICE, RLS_SERVICE } from "./proto.js";

/**
 * grpc.health.v1 (Check and Watch) for the whole server ("") and for each service by name, so
 * that Envoy's gRPC health check and Kubernetes' grpc probes both work. Draining flips every
 * service to NOT_SERVING, which Watch streams push at once.
 */
export const HEALTH_SERVICES = ["", RLS_SERVICE, RATE_LIMITER_SERVICE] as const;

export interface GrpcHealth {
  setServing(serving: boolean): void;
}

/** `services`: the names this listener reports on ("" is the whole listener). */
export function addHealthService(server: Server, services: readonly string[] = HEALTH_SERVICES): GrpcHealth {
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
