# /etc/profile.d/asbb-console.sh: administrators' login shells find `asbb` and the same
# settings file as the daemon, so `ssh -t admin-host asbb console` opens the console on the
# production database. The database credentials are each administrator's own (a PostgreSQL
# role of theirs, with ~/.pgpass or Kerberos), or ASBB_DATABASE__URL set in their own shell:
# nothing secret belongs in this file. Actions are journaled as cli:<login name>.
if [ -d /opt/asbb/bin ]; then
    case ":$PATH:" in
        *:/opt/asbb/bin:*) ;;
        *) PATH="$PATH:/opt/asbb/bin" ;;
    esac
    export PATH
fi
if [ -z "${ASBB_CONFIG:-}" ] && [ -r /etc/asbb/config.toml ]; then
    export ASBB_CONFIG=/etc/asbb/config.toml
fi
