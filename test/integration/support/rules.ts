/** The rules every ShouldRateLimit integration test runs against (domain "rl"). */
export const RL_RULES = `
domain: rl
descriptors:
  - key: user
    rate_limit: { name: per-user, unit: minute, requests_per_unit: 3 }
    descriptors:
      - key: path
        rate_limit: { name: per-user-path, unit: minute, requests_per_unit: 2 }
  - key: path
    rate_limit: { unit: minute, requests_per_unit: 5 }
  - key: burst
    rate_limit: { unit: second, requests_per_unit: 1, burst: 5 }
  - key: zero
    rate_limit: { unit: second, requests_per_unit: 0 }
  - key: open
    rate_limit: { unlimited: true }
  - key: shadow
    shadow_mode: true
    rate_limit: { unit: minute, requests_per_unit: 1 }
  - key: team
    value: eng-*
    rate_limit: { name: eng-teams, unit: minute, requests_per_unit: 2 }
  - key: team
    value: eng-core
    rate_limit: { name: eng-core, unit: minute, requests_per_unit: 4 }
  - key: team
    rate_limit: { name: any-team, unit: minute, requests_per_unit: 1 }
  - key: plan
    value: free
    rate_limit: { name: free-plan, unit: minute, requests_per_unit: 1 }
  - key: plan
    value: paid
    rate_limit:
      name: paid-plan
      unit: hour
      requests_per_unit: 100
      replaces: [{ name: free-plan }]
  - key: whitelisted
`;

/**
 * The domain of the Envoy wire vectors in test/unit/wire-compat.test.ts: one descriptor
 * [(user, alice), (path, /api)].
 */
export const EDGE_RULES = `
domain: edge
descriptors:
  - key: user
    descriptors:
      - key: path
        rate_limit: { name: per-user, unit: minute, requests_per_unit: 10 }
`;

/**
 * CheckLimit's buckets (domain "api"): per user (5/min), per endpoint (100/min; /tiny: 2/hour)
 * and per pair (3/min).
 */
export const API_RULES = `
domain: api
descriptors:
  - key: user_id
    rate_limit: { unit: minute, requests_per_unit: 5 }
    descriptors:
      - key: endpoint
        rate_limit: { unit: minute, requests_per_unit: 3 }
  - key: endpoint
    value: /tiny
    rate_limit: { unit: hour, requests_per_unit: 2 }
  - key: endpoint
    rate_limit: { unit: minute, requests_per_unit: 100 }
`;
