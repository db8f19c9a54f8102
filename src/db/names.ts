/**
 * Object names as the server stores them: bytes. A name that is valid UTF-8 is kept as that string;
 * one that is not (a SQL_ASCII database holding Latin-1 names, say) is shown with its bytes >= 0x80
 * as `\xHH` and its exact bytes are kept beside it in hex, so that it round-trips byte for byte.
 */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The string a name is listed under: the UTF-8 text, or an escaped form when the bytes are not UTF-8. */
export function displayName(bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    let out = "";
    for (const b of bytes) out += b < 0x80 ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`;
    return out;
  }
}

/** Whether `bytes` need their hex kept beside the display name (they are not UTF-8). */
export function needsRawName(bytes: Uint8Array): boolean {
  try {
    UTF8.decode(bytes);
    return false;
  } catch {
    return true;
  }
}

/** The exact bytes (hex) of a listed name: from `rawNames` when recorded there, else its UTF-8. */
export function nameBytesHex(name: string, rawNames: Readonly<Record<string, string>> | undefined): string {
  return rawNames?.[name] ?? Buffer.from(name, "utf8").toString("hex");
}

/**
 * SQL that yields the bytes of a text expression, hex-encoded, as the server stores them: raw in a
 * SQL_ASCII database (where no conversion is possible), converted to UTF-8 in any other.
 */
export function hexOfName(expression: string, databaseEncoding: string): string {
  const to = databaseEncoding === "SQL_ASCII" ? "SQL_ASCII" : "UTF8";
  return `encode(convert_to((${expression})::text, '${to}'), 'hex')`;
}
