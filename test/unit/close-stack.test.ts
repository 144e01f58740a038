import { describe, expect, it } from "vitest";
import { CloseStack } from "../../src/app/close-stack.js";

describe("CloseStack", () => {
  it("closes in reverse order, each once, and carries on past a closer that throws", async () => {
    const closed: string[] = [];
    const errors: unknown[] = [];
    const stack = new CloseStack((err) => errors.push(err));
    stack.push(() => void closed.push("store"));
    stack.push(() => {
      throw new Error("admin pool");
    });
    stack.push(async () => {
      await Promise.resolve();
      closed.push("listeners");
    });
    await stack.close();
    await stack.close();
    expect(closed).toEqual(["listeners", "store"]);
    expect(errors).toEqual([new Error("admin pool")]);
  });
});
