// Writes the files a tool generates (keys, certificates) all or none: existing files are kept
// unless forced, and a private key never exists on disk with a mode wider than 0600.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { JwtproxyError } from '../util/JwtproxyError';

export interface OutputFile {
  path: string;
  content: string;
  /** 0o600 for private keys; public files 0o644 (the umask may narrow it). */
  mode: number;
}

export class OutputFileExistsError extends JwtproxyError {
  readonly code = 'ERR_OUTPUT_FILE_EXISTS';
  constructor(readonly file: string) {
    super(`${file} already exists; pass -force to overwrite it`);
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Creates `file` with `mode` from the start: the content is never readable with a wider mode. */
async function createFile(file: string, content: string, mode: number): Promise<void> {
  const handle = await fs.open(file, 'wx', mode);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class OutputFolderError extends JwtproxyError {
  readonly code = 'ERR_OUTPUT_FOLDER';
  constructor(
    readonly folder: string,
    reason: string,
  ) {
    super(`cannot create the output folder ${folder}: ${reason}`);
  }
}

/** Creates the folders the files go in (0700: they may hold private keys), or names the one that cannot be. */
async function createFolders(files: OutputFile[]): Promise<void> {
  for (const folder of new Set(files.map((file) => path.dirname(path.resolve(file.path))))) {
    try {
      await fs.mkdir(folder, { recursive: true, mode: 0o700 });
    } catch (error) {
      const { code, path: failed } = error as NodeJS.ErrnoException;
      throw new OutputFolderError(failed ?? folder, code === 'ENOTDIR' || code === 'EEXIST' ? 'a file of that name is in the way' : (code ?? (error as Error).message));
    }
  }
}

/**
 * Creates the files' folders when missing. Without `force`, fails before writing anything when one of the files exists. With it, each file is
 * replaced atomically (temporary file, then rename), so a reader sees the old or the new content.
 */
export async function writeOutputFiles(files: OutputFile[], force: boolean): Promise<void> {
  await createFolders(files);
  if (!force) {
    for (const file of files) if (await exists(file.path)) throw new OutputFileExistsError(file.path);
  }
  for (const file of files) {
    if (!force) {
      try {
        await createFile(file.path, file.content, file.mode);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new OutputFileExistsError(file.path);
        throw error;
      }
      continue;
    }
    const temporary = path.join(path.dirname(file.path), `.${path.basename(file.path)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await createFile(temporary, file.content, file.mode);
      await fs.rename(temporary, file.path);
    } catch (error) {
      await fs.rm(temporary, { force: true });
      throw error;
    }
  }
}
