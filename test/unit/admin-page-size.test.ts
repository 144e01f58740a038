import { describe, expect, it } from "vitest";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, validatePageSize } from "../../src/admin/admin-input.js";
import type { AdminDeps } from "../../src/admin/admin-service.js";
import { createAdminService } from "../../src/admin/admin-service.js";
import type { AuditLog, OverrideRepository } from "../../src/admin/ports.js";

/** docs/audit-log.md, "Schema and migrations": page sizes are 1..500, and 0 means the default, 100. */
describe("admin page sizes", () => {
  it("maps 0 to the default and caps at the maximum", () => {
    expect([DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE]).toEqual([100, 500]);
    expect(validatePageSize(0)).toBe(100);
    expect(validatePageSize(1)).toBe(1);
    expect(validatePageSize(500)).toBe(500);
    expect(validatePageSize(501)).toBe(500);
  });

  it("refuses a negative or fractional size", () => {
    expect(() => validatePageSize(-1)).toThrow("invalid request: page_size");
    expect(() => validatePageSize(1.5)).toThrow("invalid request: page_size");
    expect(() => validatePageSize(Number.NaN)).toThrow("invalid request: page_size");
  });

  it("ListOverrides and ListAuditEvents ask the store for the default page when none is given", async () => {
    const asked: number[] = [];
    const page = { items: [], nextPageToken: undefined };
    const overrideRepository = {
      listOverrides: (query: { pageSize: number }) => (asked.push(query.pageSize), Promise.resolve(page)),
    } as Partial<OverrideRepository>;
    const auditLog = {
      listAuditEvents: (query: { pageSize: number }) => (asked.push(query.pageSize), Promise.resolve(page)),
    } as Partial<AuditLog>;
    // The list calls use only these two; the rest of the dependencies is not reached.
    const deps = { overrideRepository, auditLog, checkLimitDomain: "api" };
    const admin = createAdminService(deps as unknown as AdminDeps);
    const ctx = {
      principal: { sub: "ops", iss: "https://issuer.test", jti: "j", scopes: new Set(["floodgate:read"]) },
      requestId: undefined,
    };
    await admin.listOverrides(ctx, { domain: "", pageSize: 0, pageToken: "" });
    await admin.listAuditEvents(ctx, {
      pageSize: 0,
      pageToken: "",
      since: undefined,
      until: undefined,
      actor: "",
      action: "",
    });
    expect(asked).toEqual([100, 100]);
  });
});
