/*
   Phishing kits that imitate government portals: a login page dressed as a government service
   whose form posts the credentials to a kit script, and the kit's back end that mails or relays
   them. Real portals post to their own login endpoints, not to mailer scripts.
*/

rule CityShield_Phish_Gov_Portal_Login_Page
{
    meta:
        description = "Login page imitating a government portal that posts credentials to a phishing kit script"
        author = "CityShield"
        date = "2026-03-02"
        severity = "high"
        category = "phishing"
        mitre_attack = "T1566.002 T1056.003"
    strings:
        $html = /<html|<!doctype html/ nocase
        $gov1 = /\.gov(\.[a-z]{2})?\b/ nocase
        $gov2 = /government|ministry\s+of|tax\s+(office|administration|refund)|social\s+security/ nocase
        $gov3 = "\xe6\x94\xbf\xe5\x8a\xa1\xe6\x9c\x8d\xe5\x8a\xa1" // 政务服务
        $gov4 = "\xe4\xba\xba\xe6\xb0\x91\xe6\x94\xbf\xe5\xba\x9c" // 人民政府
        $gov5 = "\xe4\xb8\xaa\xe4\xba\xba\xe6\x89\x80\xe5\xbe\x97\xe7\xa8\x8e" // 个人所得税
        $gov6 = "\xe7\xa4\xbe\xe4\xbc\x9a\xe4\xbf\x9d\xe9\x99\xa9" // 社会保险
        $gov7 = "\xe5\x85\xac\xe7\xa7\xaf\xe9\x87\x91" // 公积金
        $pw = /type\s*=\s*["']?password/ nocase
        $kit1 = /action\s*=\s*["']?[^"'>\s]{0,60}\b(next|post|send|mail|login|verify|process|submit|result|rezult)[0-9]?\.php/ nocase
        $kit2 = /action\s*=\s*["']?https?:\/\/[^"'>\s]{0,80}\.(php|asp)\b/ nocase
        $kit3 = /action\s*=\s*["']?https?:\/\/api\.telegram\.org\/bot/ nocase
        $kit4 = /fetch\s*\(\s*["']https:\/\/api\.telegram\.org\/bot/ nocase
    condition:
        $html and any of ($gov*) and $pw and any of ($kit*)
}

rule CityShield_Phish_Kit_Credential_Relay
{
    meta:
        description = "Phishing kit back end that relays submitted credentials by mail or Telegram"
        author = "CityShield"
        date = "2026-03-02"
        severity = "high"
        category = "phishing"
        mitre_attack = "T1566.002 T1567"
    strings:
        $php = "<?" ascii
        $post = /\$_POST\s*\[\s*['"](pass(word|wd)?|pwd|pin|passwd|mima)['"]\s*\]/ nocase
        $ip1 = /getenv\s*\(\s*['"]REMOTE_ADDR['"]\s*\)/ nocase
        $ip2 = /\$_SERVER\s*\[\s*['"](REMOTE_ADDR|HTTP_X_FORWARDED_FOR)['"]\s*\]/ nocase
        $send1 = /\bmail\s*\(\s*\$[a-z_]+\s*,/ nocase
        $send2 = "api.telegram.org/bot" ascii nocase
        $send3 = /fwrite\s*\(\s*\$[a-z_]+\s*,\s*\$(message|msg|data|body)/ nocase
    condition:
        $php and $post and any of ($ip*) and any of ($send*)
}
