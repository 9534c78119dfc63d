import { readFile } from 'node:fs/promises';
import PostalMime from 'postal-mime';

type Email = Awaited<ReturnType<typeof PostalMime.parse>>;

export interface EmlFile {
  raw: string;
  parsed: Email;
  /** First value of a header, by case-insensitive name. */
  header(name: string): string | undefined;
}

/** Reads and parses an .eml file, as the email worker writes them without SMTP. */
export async function readEmlFile(file: string): Promise<EmlFile> {
  const raw = await readFile(file, 'utf8');
  const parsed = await PostalMime.parse(raw);
  return {
    raw,
    parsed,
    header: (name) => parsed.headers.find((h) => h.key === name.toLowerCase())?.value,
  };
}
