import { describe, expect, it } from "vitest";
import { bucketKey } from "../../src/store/keys.js";

describe("bucket keys", () => {
  it("name the domain and the descriptor values, with the first entry in the hash tag", () => {
    expect(bucketKey("fg:", "api", [])).toBe("fg:{api}");
    expect(bucketKey("fg:", "api", [{ key: "user_id", value: "u1" }])).toBe("fg:{api|user_id=u1}");
    expect(
      bucketKey("fg:", "api", [
        { key: "user_id", value: "u1" },
        { key: "endpoint", value: "/x" },
        { key: "m", value: "GET" },
      ]),
    ).toBe("fg:{api|user_id=u1}|endpoint=/x|m=GET");
  });

  it("escape every character that could move the hash tag or merge two descriptors", () => {
    expect(bucketKey("p:", "d{1}", [{ key: "k|=", value: "a}{%" }])).toBe("p:{d%7B1%7D|k%7C%3D=a%7D%7B%25}");
    const a = bucketKey("", "d", [{ key: "a", value: "b|c=d" }]);
    const b = bucketKey("", "d", [
      { key: "a", value: "b" },
      { key: "c", value: "d" },
    ]);
    expect(a).not.toBe(b);
  });
});
