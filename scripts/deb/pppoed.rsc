# /etc/pppoe-xdp/pppoed.rsc: pppoed's configuration, RouterOS commands.
#
# This is the RouterOS reference's Quick Example, shipped DISABLED: pppoed
# runs with it but serves nothing until you edit it. To serve:
#   1. set `interface` to the Ethernet interface (or /interface vlan name)
#      your subscribers are on, replacing ether3;
#   2. replace the example secret (user MT-User, password StrongPass);
#   3. change disabled=yes to disabled=no on the server;
#   4. name your uplink in /etc/default/pppoed (--uplink) for the fast path;
#   5. systemctl reload pppoed   (or restart it after editing
#      /etc/default/pppoed).
# pppoed rejects a file with an error whole (line, property and reason)
# and keeps running the last good one; `pppoectl /export` prints what runs.

# The AC-Name discovery sends (RFC 2516 AC-Name tag); pppoe-xdp is also the
# default. Name the box here.
/system identity set name=pppoe-xdp

# Addresses handed to subscribers.
/ip pool
add name=pppoe-pool ranges=10.0.0.2-10.0.0.5

# The AC's own address on pppoe0 and where remote addresses come from.
/ppp profile
add local-address=10.0.0.1 name=for-pppoe remote-address=pppoe-pool

# One subscriber. Change the password before enabling the server.
/ppp secret
add name=MT-User password=StrongPass profile=for-pppoe service=pppoe

# The server: disabled=yes keeps it off until the steps above are done.
/interface pppoe-server server
add default-profile=for-pppoe disabled=yes interface=ether3 service-name=pppoeservice
