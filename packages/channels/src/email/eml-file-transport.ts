import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Transport } from 'nodemailer/lib/mailer';

export interface EmlFileInfo {
  messageId: string;
  path: string;
}

/**
 * A nodemailer transport that writes each message as an .eml file, so a
 * fresh install without SMTP shows delivered mail at once (open the file in
 * any mail client). Files are named after the delivery id when one is given
 * in the X-Herald-Delivery-Id header.
 */
export class EmlFileTransport implements Transport<EmlFileInfo> {
  readonly name = 'herald-eml-file';
  readonly version = '1';
  private ready: Promise<unknown> | undefined;

  constructor(private readonly dir: string) {}

  send(
    mail: Parameters<Transport<EmlFileInfo>['send']>[0],
    callback: Parameters<Transport<EmlFileInfo>['send']>[1],
  ): void {
    this.ready ??= mkdir(this.dir, { recursive: true });
    const messageId = mail.message.messageId();
    const deliveryId = mail.message.getHeader('x-herald-delivery-id');
    const base = (typeof deliveryId === 'string' && deliveryId) || messageId.replace(/[<>@]/g, '_');
    const file = path.join(this.dir, `${base.replace(/[^\w.-]/g, '_')}.eml`);
    this.ready
      .then(() => mail.message.build())
      .then((raw) => writeFile(file, raw))
      .then(
        () => callback(null, { messageId, path: file }),
        (err: Error) => callback(err, undefined as unknown as EmlFileInfo),
      );
  }
}
