// syslog-pro ships no types; this declares the part we use.
declare module 'syslog-pro' {
  export class Syslog {
    constructor(options: { target: string; port: number; protocol: 'udp' | 'tcp' | 'tls'; format?: string; tcpTimeout?: number });
    send(msg: string): Promise<string>;
  }
}
