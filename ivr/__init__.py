"""hotline: a contact-centre hotline on Asterisk."""
