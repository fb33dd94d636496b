/** The examples and Postfix setup that `postbal --help` prints after the options. */
export const EXAMPLES = `
Examples:
  postbal check -c /etc/postfix/postbal.cf
      validate a config, print the pool and the first cycle of picks, and check it
      against Postfix's master.cf (--postfix-config DIR: another instance)
  printf 'get user@example.com\\n' | postbal -c examples/postbal.cf --state none --syslog none
      answer one lookup from a pipe, as Postfix would ask it
  postbal --log-stderr -c my.cf
      serve on this terminal, diagnostics on stderr (never under Postfix)
  postbal status            (or: postbal status --json)
      tiers, weights, drain marks and picks per transport since the last reset
  postbal drain smtp1       take smtp1 out of rotation in every running instance
  postbal undrain smtp1     and put it back (both persist in the state file)
  postbal reset-stats       start the pick counters from zero
  postbal warmup-stage smtp3 2   set a warming transport's stage (1: start again; "warmed": no cap)
  printf '21:postbal a@example.com,' | postbal -c examples/postbal.cf --state none --syslog none
      the same lookup in socketmap(5) form: the first byte tells the protocol
  postbal policy -s grey=127.0.0.1:10023:5 -s fwd=127.0.0.1:10040:10 -d dunno
      failover for policy services, hapolicy's command line ("postbal policy --help")
  postbal check --policy examples/postbal-policy.cf
      validate a policy services file (for "postbal policy -c FILE")
  postbal status --policy   health, failures, latency and share of each policy service
  postbal daemon --listen socketmap:/var/spool/postfix/private/postbal-map \\
                 --listen policy:/var/spool/postfix/private/postbal-policy -s grey=127.0.0.1:10023
      one process for every Postfix connection ("postbal daemon --help"; systemd units in examples/)
  postbal fleet -c examples/postbal-fleet.cf
      this host's link to the fleet's Redis (fleet = redis://…): drains, feedback,
      warm-up caps and rate= shared by every host; run one per host, beside Postfix
  postbal metrics --listen 127.0.0.1:9779
      Prometheus metrics at /metrics (--textfile DIR: for node_exporter; neither: print once)
  postbal check-health      one line for Nagios/Icinga; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN

postbal.cf beyond postbal.pl's format (see examples/postbal-tiers.cf):
  {3}smtp0:                       weight 3, priority 0 (the default, preferred)
  {1}smtp9:[backup.example] priority=1
                                  used only while every priority-0 entry is drained
  {1}smtp3: warmup=200,500,1000,2000,5000
                                  new IP: at most 200 new answers a day in stage 1,
                                  500 in stage 2, ...; the others take the rest
  warmup_provider = gmail.com googlemail.com
                                  a provider's domains: warming transports count their
                                  mail apart (a stage and cap per provider)
  algorithm = wrr | random | sticky
  fallback = retry:4.3.2 no source IP available
                                  answered when every transport is drained
                                  (default: "not found", Postfix goes on)
  match = example.com .example.net user@example.org news@ /^bulk-/ "<>"
  match = !vip.example.com        answer only these keys; the rest "not found"

Under Postfix (master.cf; the path is what "command -v postbal" prints):
  postbal   unix  -  n  n  -  0  spawn
      user=postbal argv=/usr/local/bin/postbal --config /etc/postfix/postbal.cf
and in main.cf (private/: only Postfix can open it; a loopback port answers every local user):
  transport_maps = socketmap:unix:private/postbal:postbal
  postbal_time_limit = 3600s
then: postbal check && postfix check && postfix reload

Exit codes (sysexits): 0 ok, 64 usage, 70 internal error, 75 state busy (try again),
77 state not ours to change, 78 bad configuration.
`;
