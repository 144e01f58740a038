import { createHmac } from "node:crypto";
import { readSettingFile } from "../../config/setting-files.js";
import { SettingsError } from "../../config/settings.js";

/**
 * The audit chain key (AUDIT_CHAIN_KEY_FILE): HMAC keys that the database never sees, so that a
 * rewrite by whoever owns the tables is detected (docs/audit-log.md, "Seals"). The file holds one
 * key per line (blank lines and `#` comments ignored): the first seals new rows, all of them
 * verify, which is how a key is rotated.
 */
export interface ChainKey {
  /** A short public fingerprint, stored with every seal and checkpoint. */
  readonly id: string;
  readonly secret: Buffer;
}

export interface ChainKeys {
  /** Seals new rows and checkpoints. */
  readonly current: ChainKey;
  /** Every key in the file, by id, to verify what older keys sealed. */
  readonly byId: ReadonlyMap<string, ChainKey>;
}

export const MIN_KEY_BYTES = 32;

/** A startup failure that names the variable and never shows key material. */
function keyFileError(problem: string): SettingsError {
  return new SettingsError([`AUDIT_CHAIN_KEY_FILE: ${problem}`]);
}

export function hmacHex(secret: Buffer, parts: readonly string[]): string {
  return createHmac("sha256", secret).update(parts.join("\n"), "utf8").digest("hex");
}

function keyOf(secret: Buffer): ChainKey {
  return { id: hmacHex(secret, ["floodgate audit key id v1"]).slice(0, 16), secret };
}

/** Parses the file's text; throws SettingsError naming the line of a key that is too short. */
export function parseChainKeys(text: string): ChainKeys {
  const keys: ChainKey[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const secret = Buffer.from(line, "utf8");
    if (secret.length < MIN_KEY_BYTES) {
      throw keyFileError(
        `the key on line ${index + 1} is ${secret.length} bytes; at least ${MIN_KEY_BYTES} are needed ` +
          "(make one with: openssl rand -base64 48)",
      );
    }
    keys.push(keyOf(secret));
  });
  const current = keys[0];
  if (current === undefined) throw keyFileError("the file holds no key (one per line)");
  return { current, byId: new Map(keys.map((k) => [k.id, k])) };
}

export async function loadChainKeys(file: string): Promise<ChainKeys> {
  return parseChainKeys((await readSettingFile("AUDIT_CHAIN_KEY_FILE", file)).toString("utf8"));
}
