/** master.cf as postbal check reads it: continuation lines, -o overrides in both forms, spawn's user= and argv=. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMasterCf } from '../../src/config/master-cf.js';

test('master.cf: services with their line, daemon, -o overrides and spawn attributes', () => {
  const services = parseMasterCf([
    '# comment',
    'smtp      inet  n       -       y       -       -       smtpd',
    'smtp0     unix  -       -       n       -       -       smtp',
    '  -o syslog_name=postfix-smtp0',
    '  -o { smtp_bind_address = 192.0.2.10 }',
    '',
    '#smtp9    unix  -       -       n       -       -       smtp',
    'postbal   unix  -       n       n       -       0       spawn',
    '  user=postbal:postbal argv=/usr/local/bin/postbal --config /etc/postfix/postbal.cf',
    'short line',
  ].join('\n'));
  assert.deepEqual(services.map((s) => [s.line, s.name, s.type, s.command]), [[2, 'smtp', 'inet', 'smtpd'], [3, 'smtp0', 'unix', 'smtp'], [8, 'postbal', 'unix', 'spawn']]);
  assert.deepEqual([...services[1]!.options], [['syslog_name', 'postfix-smtp0'], ['smtp_bind_address', '192.0.2.10']]);
  assert.equal(services[2]!.user, 'postbal');
  assert.deepEqual(services[2]!.argv, ['/usr/local/bin/postbal', '--config', '/etc/postfix/postbal.cf']);
  assert.equal(services[2]!.private, '-');
});
