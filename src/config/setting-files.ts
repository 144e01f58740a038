import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { SettingsError } from "./settings.js";

/**
 * Files that a setting names (certificates, keys) are read where they are used, at startup; a
 * file that cannot be read is a SettingsError naming the variable, like any other mistake in the
 * settings. The message shows the path and the error code, never the file's content.
 */
export function unreadableFile(variable: string, path: string, error: unknown): SettingsError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "unreadable";
  return new SettingsError([`${variable}: cannot read ${JSON.stringify(path)} (${code})`]);
}

export async function readSettingFile(variable: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw unreadableFile(variable, path, error);
  }
}

/** For a startup step that cannot wait (building a client synchronously). */
export function readSettingFileSync(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw unreadableFile(variable, path, error);
  }
}
