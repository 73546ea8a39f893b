//! The shell every HTML page shares: head, stylesheet and script, site header and footer. The
//! search and article pages, the error pages and the preview's article list are rendered into it,
//! so they look the same and the preview's banner finds the same `<body>` on each.

use maud::{DOCTYPE, Markup, html};

/// A whole page: `body` inside the site's header and footer, titled `title`.
pub fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · StorageX knowledge base" }
                link rel="stylesheet" href="/assets/style.css";
                script src="/assets/app.js" defer {}
            }
            body {
                header.site {
                    a.brand href="/" { "StorageX " span { "Support knowledge base" } }
                }
                main { (body) }
                footer.site { "Data Dynamics Technical Support · 24×7 except US national holidays" }
            }
        }
    }
}
